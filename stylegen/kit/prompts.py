"""THE prompt renderer, shared by train, generate and eval.

*Fine-tune for style, prompt for task*: the user turn is the brand's short task prompt
(``brand.yaml`` ``tasks.<name>.prompt``) with the record's facts filled in; the style
comes from the adapter, not from a long instruction. Training renders the approved text
as the assistant turn of exactly the messages that generation later sends, so the
training prompt and the generation prompt for a record are the same string.

Catalog values are data, never template code: each ``{placeholder}`` of the task
template is replaced once, with the value verbatim; a value that itself contains
``{name}`` or an instruction stays literal text.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Bullet markers a model may use for list items: "- ", "* ", "• ", "1. ", "2) ".
_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)])\s+(.*\S)\s*$")
# Chat-control token spellings (ChatML, Llama, Gemma, Mistral). In catalog text they are
# data: :func:`neutralize` breaks them up so no tokenizer parses them as special tokens.
CONTROL_TOKEN = re.compile(
    r"<\|[^<>|\n]{1,40}\|>|</?s>|<(?:start|end)_of_turn>|<(?:bos|eos|pad|unk)>|\[/?INST\]|<</?SYS>>")
DEFAULT_SYSTEM = "You write product copy for {brand}."
LIST_MARKER = "- "


def neutralize(text: str) -> str:
    """``text`` with every chat-control token spelling broken by a space after its first character.

    ``"<|im_end|>"`` becomes ``"< |im_end|>"``: still visible (and reported by the catalog
    quarantine), but no longer a string any tokenizer maps to a special token.
    """
    return CONTROL_TOKEN.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1:], text)


def fact_text(value: Any) -> str:
    """One fact value as prompt text: lists joined with ", ", None as empty, control tokens neutralized."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return neutralize(", ".join(str(v).strip() for v in value if v is not None and str(v).strip()))
    return neutralize(str(value).strip())


def format_facts(facts: dict, order: Iterable[str] | None = None) -> str:
    """A compact "Key: value" block of the non-empty facts, one per line.

    Args:
        facts: fact name -> value (str, number or list).
        order: fact names in the order to print (the brand's catalog fields); facts not
            in it follow in their own order.
    """
    order = [k for k in (order or []) if k in facts]
    keys = order + [k for k in facts if k not in set(order)]
    lines = []
    for key in keys:
        text = fact_text(facts[key])
        if text:
            lines.append(f"{key.replace('_', ' ').capitalize()}: {text}")
    return "\n".join(lines)


def fill_template(template: str, values: dict) -> str:
    """Substitute ``{var}`` placeholders once; replacement text is never re-scanned."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_task(brand, task: str, facts: dict, record_id: str | None = None) -> str:
    """The user-turn text for one task and one record's facts."""
    spec = _task(brand, task)
    order = list(brand.catalog.fields)
    named = set(_PLACEHOLDER.findall(spec.prompt))
    # Facts the template already names (e.g. {name}) are not repeated in the block.
    block = format_facts({k: v for k, v in facts.items() if k not in named}, order)
    values = {key: fact_text(facts.get(key)) for key in order}
    values.update({key: fact_text(val) for key, val in facts.items()})
    values.update(facts=block, task=task, id=record_id or "")
    return fill_template(spec.prompt, values).strip()


def default_system(brand) -> str:
    """The short default system line (SmolLM2 injects a long one when none is given)."""
    return DEFAULT_SYSTEM.format(brand=brand.name)


def render_messages(brand, task: str, facts: dict, feedback: str | None = None,
                    examples: list | None = None, system: str | None = None) -> list[dict]:
    """The chat messages that ask for one task's copy for one record.

    Args:
        brand: the loaded BrandKit.
        task: a key of ``brand.tasks`` (e.g. ``"description"``).
        facts: the record's facts (prompt variables).
        feedback: an optional short corrective note, appended to the user turn on retries.
        examples: optional few-shot examples; each a mapping with ``facts`` and the task's
            output under the task name (an approved record works as is). They become
            user/assistant turns before the real request.
        system: the system line; defaults to :func:`default_system`.

    Returns:
        A list of ``{"role", "content"}`` dicts for ``tokenizer.apply_chat_template``.
    """
    messages = [{"role": "system", "content": system if system is not None else default_system(brand)}]
    for example in examples or []:
        messages.append({"role": "user", "content": render_task(brand, task, example.get("facts") or {})})
        messages.append({"role": "assistant", "content": format_completion(brand, task, example[task])})
    user = render_task(brand, task, facts)
    if feedback:
        user = f"{user}\n\n{feedback.strip()}"
    messages.append({"role": "user", "content": user})
    return messages


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The generation prompt: the chat template with the assistant turn opened."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def render_example(tokenizer, brand, task: str, facts: dict, value: Any) -> dict:
    """A training example for one task: ``prompt`` (== the generation prompt) + ``completion``.

    The completion is the assistant text plus the chat template's end-of-turn token, so the
    model learns to stop; template text after that token (a newline) is dropped because
    generation never produces it.
    """
    messages = render_messages(brand, task, facts)
    return split_conversation(tokenizer, messages, format_completion(brand, task, value))


def split_conversation(tokenizer, messages: list[dict], answer: str) -> dict:
    """Render ``messages`` + an assistant ``answer`` as prompt/completion strings.

    Raises:
        ValueError: the chat template renders the conversation in a way whose prefix is
            not the generation prompt (then train and generate prompts would differ).
    """
    prompt = render_prompt(tokenizer, messages)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the conversation as prompt + answer")
    completion = full[len(prompt):]
    stop = end_of_turn(tokenizer)
    if stop and stop in completion:
        completion = completion[: completion.index(stop) + len(stop)]
    return {"prompt": prompt, "completion": completion}


def end_of_turn(tokenizer) -> str | None:
    """The token that ends an assistant turn (``<|im_end|>`` for ChatML models such as SmolLM2)."""
    vocab = tokenizer.get_vocab()
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        if token in vocab:
            return token
    return tokenizer.eos_token


def format_completion(brand, task: str, value: Any) -> str:
    """The assistant text for a task's output: list tasks become one "- item" per line."""
    if _task(brand, task).kind == "list":
        items = value if isinstance(value, (list, tuple)) else parse_list(str(value))
        return "\n".join(f"{LIST_MARKER}{str(item).strip()}" for item in items if str(item).strip())
    return str(value).strip()


def parse_completion(brand, task: str, text: str) -> Any:
    """Generated text back to the task's output value: a list for list tasks, else stripped text."""
    if _task(brand, task).kind == "list":
        return parse_list(text)
    return text.strip()


def parse_list(text: str) -> list[str]:
    """Parse "- item" lines (also "*", "•", "1." markers) into a list of items.

    Lines without a marker continue the previous item (a wrapped bullet); when no line
    has a marker, every non-empty line is an item.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not any(_ITEM.match(ln) for ln in lines):
        return [ln.strip() for ln in lines]
    items: list[str] = []
    for line in lines:
        match = _ITEM.match(line)
        if match:
            items.append(match.group(1))
        elif items:
            items[-1] = f"{items[-1]} {line.strip()}"
    return items


def _task(brand, task: str):
    try:
        return brand.tasks[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r} (brand tasks: {', '.join(brand.tasks)})") from None
