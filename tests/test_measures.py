"""The voice measures of the quality benchmark (stylegen/evaluation/measures.py) on texts
whose answers are known: reuse and boilerplate counted exactly, names and numbers masked,
the discriminator near 1 for two styles and near 0.5 for one."""
from __future__ import annotations

import random

from stylegen.evaluation.measures import boilerplate, field_measures, masked, Text, verbatim_reuse, voice_auc

APPROVED = "Small things go in the zippered lid pocket where you can find them without unpacking at camp"


def test_verbatim_reuse_counts_texts_with_half_their_8_grams_in_one_approved_text():
    copied = "Small things go in the zippered lid pocket where you can find them later"  # 6 of 7 grams
    fresh = "The pot holds a liter and nests over a small canister for the walk in"
    assert verbatim_reuse([copied, fresh], [APPROVED]) == 0.5
    assert verbatim_reuse(["too short to have grams"], [APPROVED]) == 0.0


def test_boilerplate_counts_texts_sharing_half_their_8_grams_with_others_of_the_night():
    frame = "It is made with recycled polyester and it comes in three colours for the trail"
    night = [f"The Scree Daypack holds 22 L. {frame}", f"The Col Hip Pack holds 5 L. {frame}",
             "A titanium pot that boils water fast and packs a canister inside for weekend trips out"]
    assert boilerplate(night) == round(2 / 3, 4)


def test_names_and_numbers_are_masked_before_the_discriminator_reads_them():
    out = masked("The Ember Kettle holds 0.8 L and weighs 5.5 oz.", {"name": "Ember Kettle"})
    assert out == "The NAME NAME holds 0 L and weighs 0 oz."


def _texts(words: list[str], n: int, seed: int) -> list[Text]:
    rng = random.Random(seed)
    return [Text(" ".join(rng.choice(words) for _ in range(20))) for _ in range(n)]


def test_the_discriminator_tells_two_styles_apart_and_not_one_style_from_itself():
    plain = "it has is made with comes in weighs holds the a and".split()
    lively = "you will love carry trail lighter camp nothing back easy day wander".split()
    assert voice_auc(_texts(plain, 40, 1), _texts(lively, 40, 2)) > 0.95
    same = voice_auc(_texts(lively, 40, 3), _texts(lively, 40, 4))
    assert 0.3 < same < 0.7


def test_field_measures_count_unsupported_claims_against_each_texts_facts():
    facts = {"name": "Ember Kettle", "capacity": "0.8 L", "materials": ["titanium"]}
    good = Text("The Ember Kettle holds 0.8 L and is made of titanium.", facts)
    bad = Text("The Ember Kettle holds 2 L and is made of titanium.", facts)
    figures = field_measures([good, bad], [Text(APPROVED)] * 6)
    assert figures["unsupported_claims"] == 1
    assert figures["texts"] == 2 and figures["fact_recall"] is not None
