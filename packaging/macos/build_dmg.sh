#!/usr/bin/env bash
# Build the macOS app bundle and a DMG disk image (run on macOS with Python 3.11).
# Usage: packaging/macos/build_dmg.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
python3.11 -m venv build/venv-macos
python=build/venv-macos/bin/python
"$python" -m pip install -e . pyinstaller  # macOS wheels of PyTorch are CPU/MPS builds
"$python" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/sslstudio.spec
QT_QPA_PLATFORM=offscreen dist/sslstudio/sslstudio --self-test
version=$("$python" -c "import sslstudio; print(sslstudio.__version__)")
app="dist/SSL Studio.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp -R dist/sslstudio/. "$app/Contents/MacOS/"
cp packaging/macos/Info.plist "$app/Contents/Info.plist"
sed -i '' "s/@VERSION@/$version/" "$app/Contents/Info.plist"
sips -s format icns resources/icons/sslstudio.png --out "$app/Contents/Resources/sslstudio.icns" >/dev/null
staging=$(mktemp -d)
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "SSL Studio" -srcfolder "$staging" -ov -format UDZO "dist/sslstudio-$version-macos.dmg"
