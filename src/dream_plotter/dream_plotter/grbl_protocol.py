"""GRBL 1.1 facts the driver needs: reply classification, status reports, code meanings."""
import re

ERRORS = {
    1: 'G-code word without a letter', 2: 'bad or missing number', 3: 'invalid $ statement',
    5: 'homing not enabled', 9: 'G-code locked out during alarm or jog',
    14: 'line too long', 15: 'jog target exceeds travel', 20: 'unsupported G-code command',
    22: 'feed rate not set', 24: 'two G-code commands need the same axis words',
    33: 'invalid motion target',
}
ALARMS = {
    1: 'hard limit triggered', 2: 'soft limit: target outside travel',
    3: 'reset while in motion: position lost', 4: 'probe fail', 5: 'probe fail',
    6: 'homing fail: reset during cycle', 7: 'homing fail: door opened',
    8: 'homing fail: pull-off did not clear the switch', 9: 'homing fail: switch not found',
}
# after these GRBL's machine position is not to be trusted ("re-homing is highly
# recommended"; a failed homing never set it); ALARM:2 stops in time and keeps it
POSITION_LOST = {1, 3, 6, 7, 8, 9}
SETTING = re.compile(r'^\$(\d+)=([-0-9.]+)')
STATUS = re.compile(r'^<([A-Za-z]+(?::\d)?)\|(?:MPos|WPos):([-0-9.]+),([-0-9.]+)')


def classify(line):
    """('ok'|'error'|'alarm'|'status'|'banner'|'message'|'other', value)."""
    if line == 'ok':
        return 'ok', None
    if line.startswith('error:'):
        return 'error', _int(line[6:])
    if line.startswith('ALARM:'):
        return 'alarm', _int(line[6:])
    if line.startswith('<') and line.endswith('>'):
        match = STATUS.match(line)
        if match:
            return 'status', (match.group(1), float(match.group(2)), float(match.group(3)))
        return 'status', (line[1:-1].split('|')[0], None, None)
    if line.startswith('Grbl '):
        return 'banner', line
    if line.startswith('[') and line.endswith(']'):
        return 'message', line
    return 'other', line


def _int(text):
    try:
        return int(text.strip())
    except ValueError:
        return -1


def describe_error(code):
    return f'error:{code} ({ERRORS.get(code, "see the GRBL 1.1 error table")})'


def describe_alarm(code):
    return f'ALARM:{code} ({ALARMS.get(code, "see the GRBL 1.1 alarm table")})'


def alarm_message(code):
    text = f'GRBL {describe_alarm(code)}'
    if code in POSITION_LOST:
        return (f'{text}: the machine position is lost: the next goal homes it first ($H), '
                'or is refused while homing is disabled ($22=0)')
    if code == 2:
        return f'{text}: the drawing reaches outside the machine travel (position kept)'
    return text


def settings(lines):
    """{number: value} from what ``$$`` prints (``$22=1`` ...)."""
    found = (SETTING.match(line) for line in lines)
    return {int(m.group(1)): float(m.group(2)) for m in found if m}


def number(value):
    """Compact fixed-point formatting for G-code words (3 decimals, no trailing zeros)."""
    text = f'{value:.3f}'.rstrip('0').rstrip('.')
    return '0' if text in ('-0', '') else text
