"""Baseline: binary bag of words (unigrams) with multinomial naive Bayes."""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from corpus import load_split
from evaluate import report


def main() -> None:
    train, test = load_split()
    vectorizer = CountVectorizer(binary=True)
    model = MultinomialNB()
    model.fit(vectorizer.fit_transform([review.text for review in train]), [review.label for review in train])
    predicted = model.predict(vectorizer.transform([review.text for review in test]))

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows(enumerate(predicted))
    report(path)


if __name__ == "__main__":
    main()
