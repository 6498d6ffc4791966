#!/usr/bin/env bash
# Downloads the French Vosk model for the callbot (operator step: needs internet).
#   make voice-model                      # small model (~41 MB), the default
#   make voice-model VOSK_MODEL=vosk-model-fr-0.22   # large model (~1.4 GB)
# The archive is checked against the SHA-256 recorded in voice/models.sha256.
# A model not listed there yet is recorded on first download (trust on first
# use): compare the printed checksum with the one published by the model's
# authors, then commit voice/models.sha256 so every later install is verified.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${VOSK_MODEL:-vosk-model-small-fr-0.22}
BASE_URL=${VOSK_BASE_URL:-https://alphacephei.com/vosk/models}
DATA_DIR=${GUICHET_DATA_DIR:-$PWD/data}
DEST="$DATA_DIR/models"
SUMS=voice/models.sha256
mkdir -p "$DEST"
if [ -d "$DEST/$MODEL" ]; then
  echo "voice-model: $DEST/$MODEL is already installed"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "voice-model: downloading $BASE_URL/$MODEL.zip"
if ! curl -fL --retry 3 -o "$tmp/$MODEL.zip" "$BASE_URL/$MODEL.zip"; then
  echo "voice-model: download failed (no internet access?). Copy $MODEL.zip here by other means and unzip it into $DEST/." >&2
  exit 1
fi
sum=$(sha256sum "$tmp/$MODEL.zip" | cut -d' ' -f1)
expected=$(awk -v m="$MODEL.zip" '$2 == m {print $1}' "$SUMS" 2>/dev/null || true)
if [ -n "$expected" ]; then
  if [ "$sum" != "$expected" ]; then
    echo "voice-model: checksum mismatch for $MODEL.zip: got $sum, expected $expected" >&2
    exit 1
  fi
  echo "voice-model: checksum verified"
else
  echo "$sum  $MODEL.zip" >> "$SUMS"
  echo "voice-model: first download of $MODEL.zip, SHA-256 $sum recorded in $SUMS."
  echo "voice-model: compare it with the published checksum, then commit $SUMS."
fi
(cd "$tmp" && python3 -m zipfile -e "$MODEL.zip" .)
mv "$tmp/$MODEL" "$DEST/$MODEL"
echo "voice-model: installed $DEST/$MODEL; set voice.vosk_model in bot/settings.yml if you chose another model"
