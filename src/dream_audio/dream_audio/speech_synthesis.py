"""Spoken test dreams from text, with espeak-ng and sox.

There is no visitor (nor microphone) in CI: tests, benchmarks and the demo speak their own
dreams. espeak-ng's voice is robotic but intelligible, which is enough to measure the chain.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile


class SynthesisError(RuntimeError):
    """espeak-ng or sox is missing or failed."""


def _tool(name, debian_package):
    path = shutil.which(name)
    if path is None:
        raise SynthesisError(
            f'{name} is not installed: install the Debian package {debian_package} '
            f'(apt-get install {debian_package})')
    return path


def _run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SynthesisError(
            f'{pathlib.Path(command[0]).name} failed ({done.returncode}): '
            f'{done.stderr.strip() or done.stdout.strip()}')


def _voice_known(espeak, voice):
    """espeak-ng speaks an unknown voice with its default one and exits 0: look it up."""
    def listing(selector):
        done = subprocess.run([espeak, f'--voices={selector}'], capture_output=True, text=True)
        return [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]

    base, _, variant = voice.partition('+')
    known = bool(listing(base)) or any(
        base.lower() in (row[3].lower(), row[4].lower()) for row in listing('') if len(row) > 4)
    if known and variant:
        known = any(variant.lower() in (row[3].lower(), row[4].lower().split('/')[-1])
                    for row in listing('variant') if len(row) > 4)
    return known


def synthesize(text, path, voice='en-us', wpm=150, pad_before=1.0, pad_after=1.5,
               sample_rate=None, channels=None):
    """Speak ``text`` into the audio file ``path`` (format from its suffix: wav, flac, ogg...).

    ``voice`` is an espeak-ng voice ('en-us', 'en-gb', 'es', 'fr', 'de', 'en-us+f3'...),
    ``wpm`` the speed in words per minute; silence of ``pad_before``/``pad_after`` seconds
    surrounds the speech, as when a visitor steps up, waits and steps back. espeak-ng speaks
    at 22050 Hz mono; ``sample_rate``/``channels`` convert the file (to test other formats).
    Returns the path.
    """
    if not text or not text.strip():
        raise SynthesisError('nothing to say: the text is empty')
    if wpm <= 0 or pad_before < 0 or pad_after < 0:
        raise SynthesisError('wpm must be positive and the padding non-negative')
    espeak = _tool('espeak-ng', 'espeak-ng')
    sox = _tool('sox', 'sox')
    if not _voice_known(espeak, voice):
        raise SynthesisError(f'espeak-ng has no voice {voice!r} (see espeak-ng --voices)')
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='dream-tts-') as tmp:
        raw = os.path.join(tmp, 'speech.wav')
        _run([espeak, '-v', voice, '-s', str(int(wpm)), '-w', raw, '--', text])
        command = [sox, raw, str(path)]
        if sample_rate:
            command += ['rate', '-v', str(int(sample_rate))]
        if channels:
            command += ['channels', str(int(channels))]
        command += ['pad', f'{pad_before:g}', f'{pad_after:g}']
        _run(command)
    return path


def main(argv=None):
    """``python -m dream_audio.speech_synthesis 'text' out.wav [voice] [wpm]``."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print('usage: python -m dream_audio.speech_synthesis TEXT OUT.wav [VOICE] [WPM]',
              file=sys.stderr)
        return 2
    try:
        synthesize(args[0], args[1], voice=args[2] if len(args) > 2 else 'en-us',
                   wpm=int(args[3]) if len(args) > 3 else 150)
    except SynthesisError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
