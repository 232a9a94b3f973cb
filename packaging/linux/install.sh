#!/usr/bin/env bash
# Install the unpacked bundle for the current user: a launcher in ~/.local/bin and a menu entry.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$HOME/.local/bin" "$HOME/.local/share/applications" "$HOME/.local/share/icons/hicolor/256x256/apps"
ln -sf "$here/sslstudio" "$HOME/.local/bin/sslstudio"
sed "s|^Exec=sslstudio|Exec=$here/sslstudio|" "$here/share/applications/sslstudio.desktop" \
  > "$HOME/.local/share/applications/sslstudio.desktop"
cp "$here/share/icons/hicolor/256x256/apps/sslstudio.png" "$HOME/.local/share/icons/hicolor/256x256/apps/"
echo "Installed: run 'sslstudio' or open SSL Studio from the applications menu."
