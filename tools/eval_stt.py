"""Word error rate and real-time factor of a speech recogniser on recorded prompts.

    python -m tools.eval_stt DIR [--engine vosk|whisper] [--model PATH] [--limit N] [--json]
                             [--min-words N] [--split all|even|odd] [--whisper-window fit|full]

Without --model: Vosk uses $GUICHET_VOSK_MODEL or <data>/models/vosk-fr; Whisper uses
<data>/models/whisper-base, assembled from the packaged base model when missing.

Pairs of audio and reference text are found, in this order:

1. `--transcripts FILE`, or `transcripts.tsv` / `transcripts.csv` in DIR:
   one `name<TAB>text` (or `name,text`) per line, name relative to DIR, with or
   without `.wav`;
2. an Asterisk sound set (`/usr/share/asterisk/sounds/fr`, from Debian's
   asterisk-core-sounds-fr-wav): its `core-sounds-<lang>.txt[.gz]` (`name: text`
   lines, `;` comments, names like `digits/7`), found in DIR or in
   /usr/share/doc/asterisk-core-sounds-*/;
3. every `*.wav` under DIR with a sibling `*.txt`.

Audio is brought to 8 kHz first (the telephone path), then transcribed.
References and hypotheses are normalised alike: lower case, accents folded (the
Debian transcripts often drop them: "Felicitation", "etes"),
punctuation, apostrophes and hyphens turned into spaces, numbers written in words.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from voice.audio import duration_s, read_wav, resample
from voice.session import SAMPLE_RATE
from voice.stt import (
    SpeechModelMissing,
    SpeechRecognizer,
    VoskRecognizer,
    default_model_path,
    default_whisper_path,
)
from voice.texts import digits_to_words, number_to_words

ENGINES = ("vosk", "whisper")
ASTERISK_DOCS = Path("/usr/share/doc")
# Prompts that are only a sound ("[ascending tones]", "(ahooga)").
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_SPELLING = {"vingts": "vingt", "cents": "cent"}


@dataclass(frozen=True)
class Pair:
    name: str
    wav: Path
    reference: str


@dataclass
class ItemResult:
    name: str
    reference: str
    hypothesis: str
    ref_words: int
    errors: int
    audio_s: float
    decode_s: float


# --- normalisation and WER -----------------------------------------------------------


def _number(match: re.Match[str]) -> str:
    digits = match.group(0)
    if len(digits) > 1 and digits.startswith("0"):
        return digits_to_words(digits)
    value = int(digits)
    return number_to_words(value) if value <= 999_999_999 else digits_to_words(digits)


def normalize(text: str) -> list[str]:
    """Words for scoring: lower case, accents folded, no punctuation, numbers in words."""
    text = _ANNOTATION.sub(" ", text.lower())
    text = re.sub(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)", "", text)  # 1 234 -> 1234
    text = re.sub(r"\d+", lambda m: f" {_number(m)} ", text)
    text = re.sub(r"[^\w]+|_", " ", text)  # \w keeps accented letters
    # "quatre-vingt(s)", "deux cent(s)": agreement is spelling, not recognition.
    return [_fold(_SPELLING.get(word, word)) for word in text.split()]


def _fold(word: str) -> str:
    """Accents folded: "répéter" and "repeter" score alike (spelling, not recognition)."""
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


# --- finding pairs -------------------------------------------------------------------


def _resolve_wav(root: Path, name: str) -> Path | None:
    candidate = root / name
    for path in (candidate, candidate.with_name(candidate.name + ".wav")):
        if path.suffix.lower() == ".wav" and path.is_file():
            return path
    return None


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    return path.read_text(encoding="utf-8")


def read_table(path: Path, root: Path) -> list[Pair]:
    """`name<TAB>text` (.tsv, or any file with tabs) or `name,text` (.csv) lines."""
    text = _read_text(path)
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r]
        rows = [[r[0], ",".join(r[1:])] for r in rows]
    else:
        rows = [line.split("\t", 1) for line in text.splitlines() if "\t" in line]
    pairs: list[Pair] = []
    for row in rows:
        name, reference = row[0].strip(), row[1].strip()
        if not name or name.startswith("#") or name.lower() in {"name", "file", "path"}:
            continue
        wav = _resolve_wav(root, name)
        if wav is not None and reference:
            pairs.append(Pair(name, wav, reference))
    return pairs


def read_asterisk(path: Path, root: Path) -> list[Pair]:
    """Asterisk's core-sounds-<lang>.txt: `name: text` per line, `;` comments."""
    pairs: list[Pair] = []
    for line in _read_text(path).splitlines():
        line = line.strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        name, reference = (part.strip() for part in line.split(":", 1))
        reference = reference.strip('"“”« »')
        if not normalize(reference):  # a sound effect, not speech
            continue
        wav = _resolve_wav(root, name)
        if wav is None and name.startswith(f"{root.name}/"):  # DIR is a subfolder (digits/)
            wav = _resolve_wav(root, name[len(root.name) + 1 :])
        if wav is not None:
            pairs.append(Pair(name, wav, reference))
    return pairs


def find_asterisk_transcript(root: Path) -> Path | None:
    for folder in (root, root.parent):
        local = sorted(folder.glob("core-sounds-*.txt*"))
        if local:
            return local[0]
    # Debian ships the prompts' text apart: /usr/share/doc/asterisk-core-sounds-fr/.
    # The language is the sound folder's name (fr -> fr_CA_f_June), or its parent's (digits/).
    resolved = root.resolve()
    for folder in (resolved, resolved.parent):
        lang = folder.name.split("_")[0].split("-")[0].lower()
        if len(lang) == 2 and lang.isalpha():
            pattern = f"asterisk-core-sounds-{lang}*/core-sounds-{lang}.txt*"
            found = sorted(ASTERISK_DOCS.glob(pattern))
            if found:
                return found[0]
    return None


def find_pairs(root: Path, transcripts: Path | None = None) -> list[Pair]:
    if transcripts is not None:
        if transcripts.name.startswith("core-sounds-"):
            return read_asterisk(transcripts, root)
        return read_table(transcripts, root)
    for table in ("transcripts.tsv", "transcripts.csv"):
        if (root / table).is_file():
            return read_table(root / table, root)
    asterisk = find_asterisk_transcript(root)
    if asterisk is not None:
        pairs = read_asterisk(asterisk, root)
        if pairs:
            return pairs
    pairs = []
    for wav in sorted(root.rglob("*.wav")):
        txt = wav.with_suffix(".txt")
        if txt.is_file():
            reference = txt.read_text(encoding="utf-8").strip()
            if reference:
                pairs.append(Pair(str(wav.relative_to(root).with_suffix("")), wav, reference))
    return pairs


# --- evaluation ----------------------------------------------------------------------


def make_engine(engine: str, model: Path, *, whisper_window: str = "fit") -> SpeechRecognizer:
    if engine == "vosk":
        return VoskRecognizer(model)
    if engine == "whisper":
        from voice.whisper import WhisperOptions, WhisperRecognizer

        options = (
            WhisperOptions() if whisper_window == "fit" else WhisperOptions(window_margin_s=None)
        )
        return WhisperRecognizer(model, options=options)
    raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")


def evaluate(recognizer: SpeechRecognizer, pairs: Sequence[Pair]) -> list[ItemResult]:
    results: list[ItemResult] = []
    for pair in pairs:
        pcm, rate = read_wav(pair.wav)
        pcm = resample(pcm, rate, SAMPLE_RATE)
        started = time.perf_counter()
        hypothesis = recognizer.transcribe(pcm)
        decode_s = time.perf_counter() - started
        ref = normalize(pair.reference)
        results.append(
            ItemResult(
                name=pair.name,
                reference=pair.reference,
                hypothesis=hypothesis,
                ref_words=len(ref),
                errors=edit_distance(ref, normalize(hypothesis)),
                audio_s=duration_s(pcm),
                decode_s=decode_s,
            )
        )
    return results


@dataclass
class Summary:
    engine: str
    model: str
    directory: str
    load_s: float
    files: int
    ref_words: int
    errors: int
    wer: float
    audio_s: float
    decode_s: float
    rtf: float
    items: list[ItemResult]


def summarise(
    results: Sequence[ItemResult], *, engine: str, model: str, directory: str, load_s: float
) -> Summary:
    ref_words = sum(r.ref_words for r in results)
    errors = sum(r.errors for r in results)
    audio_s = sum(r.audio_s for r in results)
    decode_s = sum(r.decode_s for r in results)
    return Summary(
        engine=engine,
        model=model,
        directory=directory,
        load_s=round(load_s, 3),
        files=len(results),
        ref_words=ref_words,
        errors=errors,
        wer=errors / ref_words if ref_words else 0.0,
        audio_s=round(audio_s, 3),
        decode_s=round(decode_s, 3),
        rtf=decode_s / audio_s if audio_s else 0.0,
        items=list(results),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.eval_stt", description="WER and real-time factor of a recogniser"
    )
    parser.add_argument("directory", type=Path, help="folder of WAV files and transcripts")
    parser.add_argument("--engine", choices=ENGINES, default="vosk")
    parser.add_argument("--model", type=Path, default=None, help="model directory")
    parser.add_argument("--transcripts", type=Path, default=None, help="transcript file")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N pairs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per file")
    parser.add_argument(
        "--min-words", type=int, default=0, help="only prompts of at least N reference words"
    )
    parser.add_argument(
        "--whisper-window",
        choices=("fit", "full"),
        default="fit",
        help="Whisper's encoder window: fitted to each utterance (default) or 30 s",
    )
    parser.add_argument(
        "--split",
        choices=("all", "even", "odd"),
        default="all",
        help="every other prompt (after --min-words): choose on one half, measure on the other",
    )
    args = parser.parse_args(argv)

    root: Path = args.directory
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    pairs = find_pairs(root, args.transcripts)
    if args.min_words:
        pairs = [p for p in pairs if len(normalize(p.reference)) >= args.min_words]
    if args.split != "all":
        pairs = pairs[0::2] if args.split == "even" else pairs[1::2]
    if args.limit is not None:
        pairs = pairs[: args.limit]
    if not pairs:
        print(f"error: no WAV/transcript pairs found in {root}", file=sys.stderr)
        return 2
    model: Path = args.model or (
        default_model_path() if args.engine == "vosk" else default_whisper_path()
    )
    started = time.perf_counter()
    try:
        recognizer = make_engine(args.engine, model, whisper_window=args.whisper_window)
    except SpeechModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - started
    results = evaluate(recognizer, pairs)
    summary = summarise(
        results, engine=args.engine, model=str(model), directory=str(root), load_s=load_s
    )
    if args.json:
        print(json.dumps(asdict(summary), ensure_ascii=False))
        return 0
    if args.verbose:
        for r in results:
            print(f"{r.name}\t{r.errors}/{r.ref_words}\tref: {r.reference}\thyp: {r.hypothesis}")
    print(
        f"{summary.files} files, {summary.ref_words} words: "
        f"WER {summary.wer:.1%} ({summary.errors} errors), RTF {summary.rtf:.3f} "
        f"({summary.decode_s} s decoding for {summary.audio_s} s of audio; "
        f"model load {summary.load_s} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
