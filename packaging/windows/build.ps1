# Build the Windows bundle and installer.
# Requires: Python 3.11 on PATH, Inno Setup 6 (iscc.exe on PATH).
# Usage (PowerShell, from the repository root):  .\packaging\windows\build.ps1 [-Cpu]
param([switch]$Cpu)
$ErrorActionPreference = "Stop"
python -m venv build\venv-windows
$python = "build\venv-windows\Scripts\python.exe"
if ($Cpu) {
    # The CPU build of PyTorch keeps the installer small; it comes from PyTorch's CPU wheel index.
    & $python -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
}
& $python -m pip install -e . pyinstaller
& $python -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller packaging\sslstudio.spec
$env:QT_QPA_PLATFORM = "offscreen"
& dist\sslstudio\sslstudio.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "the bundle's self-test failed" }
$env:SSLSTUDIO_VERSION = & $python -c "import sslstudio; print(sslstudio.__version__)"
iscc packaging\windows\sslstudio.iss
