; Inno Setup script: installs the PyInstaller bundle (dist\sslstudio) for the current user.
; Build the bundle first:  packaging\windows\build.ps1   (it then runs: iscc packaging\windows\sslstudio.iss)
#define AppName "SSL Studio"
#define AppVersion GetEnv("SSLSTUDIO_VERSION")
#if AppVersion == ""
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{5B8C6B1E-3F0A-4C8E-9E2D-7A1B2C3D4E5F}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=SSL Studio
DefaultDirName={autopf}\SSL Studio
DefaultGroupName=SSL Studio
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir=..\..\dist
OutputBaseFilename=sslstudio-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\sslstudio.ico
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; The bundle holds PyTorch: several hundred MB for the CPU build, several GB with CUDA.
DiskSpanning=no

[Files]
Source: "..\..\dist\sslstudio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\SSL Studio"; Filename: "{app}\sslstudio.exe"; Parameters: "gui"
Name: "{autodesktop}\SSL Studio"; Filename: "{app}\sslstudio.exe"; Parameters: "gui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\sslstudio.exe"; Parameters: "--self-test"; Description: "Check the installation (self-test)"; Flags: postinstall skipifsilent runhidden
