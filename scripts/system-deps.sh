#!/usr/bin/env bash
# System tools the tests and benchmarks use, from Debian's packages: Chromium (browser tests),
# wrk (benchmarks), Tesseract with English/Czech/German data (OCR in the local import provider),
# espeak-ng and sox (consultation audio fixtures), poppler-utils (PDF pages to PNG), Node.js
# and npm (WebCrypto and bcryptjs interop). Sourced by test.sh. Missing ones are installed when
# we are root (CI is); otherwise the script stops with the apt-get command to run.
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || need+=(chromium)
have wrk || need+=(wrk)
have tesseract || need+=(tesseract-ocr)
for lang in ces deu eng; do
  [ -n "$(ls /usr/share/tesseract-ocr/*/tessdata/$lang.traineddata 2>/dev/null)" ] \
    || need+=("tesseract-ocr-$lang")
done
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox)
have pdftoppm || need+=(poppler-utils)
have node || need+=(nodejs)
have npm || need+=(npm)  # scripts/node-deps.sh (bcryptjs); Debian packages it apart from nodejs
# the font the import tests render their lab reports in (PDF and photographed page)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "==> installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "The tests need these Debian packages: ${need[*]}" >&2
    echo "Install them with: sudo apt-get install ${need[*]}" >&2
    exit 4
  fi
fi
