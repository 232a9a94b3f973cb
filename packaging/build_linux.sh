#!/usr/bin/env bash
# Build the Linux one-folder bundle (dist/sslstudio/) and a tarball beside it, then run its self-test.
#
# Usage: packaging/build_linux.sh [PYTHON]
#   PYTHON: the interpreter of an environment where SSL Studio and PyInstaller are installed
#           (default: .venv/bin/python). Install them with: pip install -e . pyinstaller
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
version=$("$python" -c "import sslstudio; print(sslstudio.__version__)")
"$python" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/sslstudio.spec
install -Dm644 packaging/linux/sslstudio.desktop dist/sslstudio/share/applications/sslstudio.desktop
install -Dm644 resources/icons/sslstudio.png dist/sslstudio/share/icons/hicolor/256x256/apps/sslstudio.png
install -Dm755 packaging/linux/install.sh dist/sslstudio/install.sh
QT_QPA_PLATFORM=offscreen dist/sslstudio/sslstudio --self-test
tarball="dist/sslstudio-${version}-linux-$(uname -m).tar.gz"
tar -C dist -czf "$tarball" sslstudio
du -sh dist/sslstudio "$tarball"
