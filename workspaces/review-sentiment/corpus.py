"""The review corpus: short product reviews built from templates by a seeded random
generator, so the same corpus comes back on every machine without any download.

Each review is negative, neutral or positive. Plain unigram cues are not enough: reviews
negate sentiment words ("not sturdy at all"), turn around mid-sentence ("flimsy, but the
price is great") and carry typos, and a few labels are flipped as annotation noise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LABELS = ("negative", "neutral", "positive")
SEED = 2024
TRAIN_SIZE = 3000
TEST_SIZE = 1500
LABEL_NOISE = 0.04

PRODUCTS = ["headphones", "blender", "kettle", "backpack", "phone case", "desk lamp", "keyboard",
            "water bottle", "tent", "vacuum", "toaster", "monitor", "jacket", "charger", "mouse"]
ASPECTS = ["battery", "sound", "build", "price", "finish", "handle", "strap", "lid", "cable",
           "design", "motor", "fabric", "screen", "button", "zipper"]
POSITIVE = ["great", "excellent", "sturdy", "reliable", "superb", "solid", "lovely", "brilliant",
            "comfortable", "impressive", "smooth", "fantastic"]
NEGATIVE = ["awful", "flimsy", "terrible", "useless", "cheap", "noisy", "disappointing", "poor",
            "broken", "horrible", "weak", "faulty"]
MIXED = ["okay", "average", "fine", "acceptable", "ordinary", "so-so", "decent", "standard"]
FILLER = ["I bought it for my {who}.", "It arrived on {day}.", "I have used it for {n} weeks.",
          "The box was {colour}.", "My {who} picked the {colour} one.", "Ordered it on a {day}.",
          "It replaced my old {product}.", "I use it mostly at {place}."]
WHO = ["sister", "brother", "dad", "mum", "partner", "friend", "son", "daughter", "office"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
COLOURS = ["black", "white", "grey", "blue", "red", "green"]
PLACES = ["home", "work", "the gym", "school", "the cabin"]


@dataclass(frozen=True)
class Review:
    text: str
    label: str


def _filler(rng: random.Random) -> str:
    return rng.choice(FILLER).format(who=rng.choice(WHO), day=rng.choice(DAYS), n=rng.randint(2, 30),
                                     colour=rng.choice(COLOURS), product=rng.choice(PRODUCTS),
                                     place=rng.choice(PLACES))


def _clause(rng: random.Random, polarity: int) -> str:
    """A clause whose meaning has the given polarity (+1, -1, 0), often said by negation."""
    aspect = rng.choice(ASPECTS)
    if polarity == 0:
        return f"the {aspect} is {rng.choice(MIXED)}"
    same, opposite = (POSITIVE, NEGATIVE) if polarity > 0 else (NEGATIVE, POSITIVE)
    if rng.random() < 0.45:
        return rng.choice([f"the {aspect} is not {rng.choice(opposite)}",
                           f"the {aspect} is not {rng.choice(opposite)} at all",
                           f"I would not call the {aspect} {rng.choice(opposite)}"])
    return f"the {aspect} is {rng.choice(same)}"


def _sentence(rng: random.Random, polarity: int) -> str:
    roll = rng.random()
    if polarity != 0 and roll < 0.35:
        # The turn decides: what comes after "but" carries the meaning.
        text = f"{_clause(rng, -polarity)}, but {_clause(rng, polarity)}"
    elif polarity == 0 and roll < 0.4:
        first = rng.choice((1, -1))
        text = f"{_clause(rng, first)}, but {_clause(rng, -first)}"
    else:
        text = _clause(rng, polarity)
    return text[0].upper() + text[1:] + "."


def _typos(rng: random.Random, text: str, rate: float = 0.02) -> str:
    chars = list(text)
    for index in range(len(chars) - 1):
        if chars[index].isalpha() and chars[index + 1].isalpha() and rng.random() < rate:
            chars[index], chars[index + 1] = chars[index + 1], chars[index]
    return "".join(chars)


def _review(rng: random.Random, label: str) -> Review:
    polarity = {"negative": -1, "neutral": 0, "positive": 1}[label]
    sentences = [_sentence(rng, polarity) for _ in range(rng.randint(1, 2))]
    sentences += [_filler(rng) for _ in range(rng.randint(1, 3))]
    rng.shuffle(sentences)
    sentences.insert(0, f"Review of the {rng.choice(PRODUCTS)}.")
    if rng.random() < LABEL_NOISE:
        label = rng.choice([other for other in LABELS if other != label])
    return Review(text=_typos(rng, " ".join(sentences)), label=label)


def generate(size: int, seed: int) -> list[Review]:
    rng = random.Random(seed)
    return [_review(rng, rng.choice(LABELS)) for _ in range(size)]


def load_split() -> tuple[list[Review], list[Review]]:
    """(train reviews, test reviews), identical on every call and machine."""
    reviews = generate(TRAIN_SIZE + TEST_SIZE, SEED)
    return reviews[:TRAIN_SIZE], reviews[TRAIN_SIZE:]
