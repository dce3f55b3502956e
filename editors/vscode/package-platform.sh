#!/usr/bin/env bash
# Builds a platform-specific .vsix that carries the quill server (server/quill), as
# rust-analyzer's extension does: installed from it, the extension needs nothing else.
#
#   ./package-platform.sh ../../dist/quill-0.1.0-x86_64-linux.tar.gz    # → quill-linux-x64.vsix
#   ./package-platform.sh ../../dist/quill-0.1.0-aarch64-linux.tar.gz   # → quill-linux-arm64.vsix
#
# The archive (from scripts/release.sh) is checked against the SHA256SUMS beside it. Run
# `npm ci` first. Publishing (`vsce publish --packagePath …`, `ovsx publish …`) is by hand.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 quill-<version>-<arch>-linux.tar.gz" >&2; exit 2; }
archive=$(realpath "$1")
cd "$(dirname "$0")"
name=$(basename "$archive" .tar.gz)
case "$name" in
  *-x86_64-linux) target=linux-x64 ;;
  *-aarch64-linux) target=linux-arm64 ;;
  *) echo "$name: not a quill-<version>-{x86_64,aarch64}-linux archive" >&2; exit 2 ;;
esac
sums=$(dirname "$archive")/SHA256SUMS
if [ -f "$sums" ]; then
  (cd "$(dirname "$archive")" && grep -E " \*?$name\.tar\.gz\$" SHA256SUMS | sha256sum -c -) >&2
else
  echo "no SHA256SUMS beside $archive: not checked" >&2
fi
rm -rf server
trap 'rm -rf server' EXIT
mkdir server
tar -xzf "$archive" -C server --strip-components=1 "$name/quill"
chmod 755 server/quill
npm run -s compile
npx vsce package --target "$target" -o "quill-$target.vsix"
unzip -l "quill-$target.vsix" | grep -q 'extension/server/quill$' || { echo "server/quill missing from the package" >&2; exit 1; }
ls -l "quill-$target.vsix"
