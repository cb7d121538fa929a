"""Spoken dreams for ``dream bench stt``: text, espeak-ng voice and speed.

Several voices (American, British, with female and male variants) and speeds, dream-like
vocabulary, a number, and three sentences in Spanish, French and German with their English
meaning for the translation task.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    name: str
    text: str            # what is spoken
    voice: str           # espeak-ng voice
    wpm: int
    english: str = ''    # reference translation, for non-English samples
    language: str = 'en'


DREAMS = (
    Sample('glass-forest', 'I was walking through a forest of glass trees, and every leaf was '
           'ringing like a small bell.', 'en-us', 150),
    Sample('whale', 'A giant whale swam slowly over the city at night, and its belly was full '
           'of lights.', 'en-gb', 140),
    Sample('bus', 'My grandmother was driving a red bus across the desert, singing an old '
           'song.', 'en-us+f3', 160),
    Sample('stairs', 'The stairs in my house kept going down, deeper and deeper, until I '
           'reached a quiet sea.', 'en-us', 130),
    Sample('library', 'I could breathe under water, and the fish were reading newspapers in '
           'a library.', 'en-gb+m3', 170),
    Sample('tiger', 'A tiger made of smoke followed me to school, but nobody else could see '
           'it.', 'en-us+f2', 150),
    Sample('moon', 'The moon fell into the garden and broke into a thousand white birds.',
           'en-us', 140),
    Sample('exam', 'I was late for an exam in a language I had never learned, and my teeth '
           'were falling out.', 'en-gb', 165),
    Sample('kite', 'We were flying a paper kite so big that it lifted the whole village into '
           'the clouds.', 'en-us+m2', 145),
    Sample('doors', 'There were three doors in the hallway, and behind each one my dog was '
           'waiting for me.', 'en-us', 155),
)

FOREIGN = (
    Sample('cat-es', 'Soñé que un gato volaba sobre la ciudad de noche.', 'es', 140,
           english='I dreamed that a cat was flying over the city at night.', language='es'),
    Sample('house-fr', "J'étais dans une maison au bord de la mer et les murs étaient en "
           'chocolat.', 'fr', 140,
           english='I was in a house by the sea and the walls were made of chocolate.',
           language='fr'),
    Sample('forest-de', 'Ich bin durch einen Wald aus Glas gelaufen und die Bäume haben '
           'gesungen.', 'de', 140,
           english='I walked through a forest of glass and the trees were singing.',
           language='de'),
)

# About ten seconds of one visitor, two sentences with a short pause, for the latency figure.
LONG_DREAM = Sample('long', DREAMS[0].text + ' ' + DREAMS[1].text, 'en-us', 150)
