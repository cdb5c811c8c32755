"""Baseline: bag of the 2,000 most frequent words with multinomial naive Bayes."""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from evaluate import read_split, report, require_data


def main() -> None:
    require_data()
    train_texts, train_labels = read_split("train")
    test_texts, _ = read_split("test")
    vectorizer = CountVectorizer(max_features=2000, binary=True)
    model = MultinomialNB()
    model.fit(vectorizer.fit_transform(train_texts), train_labels)
    predicted = model.predict(vectorizer.transform(test_texts))

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label"])
        writer.writerows(enumerate(int(label) for label in predicted))
    report(path)


if __name__ == "__main__":
    main()
