"""What a public installation refuses to draw: an optional blocklist of words and phrases."""
import re

# The refusal a session fails with (the analysis of the archive recognises it by this).
REFUSAL = 'this installation does not draw "{}"'
REFUSAL_PATTERN = re.compile(re.escape(REFUSAL).replace(re.escape('{}'), '[^"]*'))


class PromptPolicy:
    def __init__(self, blocklist=()):
        terms = [t.strip() for t in blocklist if t and t.strip()]
        self._pattern = (re.compile(r'\b(' + '|'.join(re.escape(t) for t in terms) + r')\b',
                                    re.IGNORECASE) if terms else None)

    def refusal(self, prompt):
        """A reason to refuse the prompt, or '' when it may be drawn."""
        if self._pattern is None:
            return ''
        match = self._pattern.search(prompt)
        return REFUSAL.format(match.group(0)) if match else ''
