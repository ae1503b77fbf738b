"""Block Kit as readable terminal text, for `creditbot console`: buttons become numbered choices.

It reads the same block dicts Slack gets, so the console shows exactly what Slack would, minus the styling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RULE = "─" * 60
COLUMN = 36

_EMOJI = {
    ":white_check_mark:": "✔",
    ":no_entry:": "⛔",
    ":warning:": "⚠",
    ":lock:": "🔒",
    ":leftwards_arrow_with_hook:": "↩",
    ":x:": "✘",
    ":hourglass_flowing_sand:": "⏳",
    ":mag:": "🔍",
    ":book:": "📖",
    ":bar_chart:": "📊",
    ":memo:": "📝",
}
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]+))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")


@dataclass(frozen=True)
class Choice:
    """A button, shown as `[number] label`; picking the number clicks it."""

    number: int
    label: str
    action_id: str
    value: str


@dataclass(frozen=True)
class ConsoleText:
    text: str
    choices: list[Choice]


def render(blocks: Sequence[dict[str, Any]], fallback: str = "", first_number: int = 1) -> ConsoleText:
    """The blocks as lines of text; buttons are numbered from `first_number` on."""
    if not blocks:
        return ConsoleText(plain(fallback), [])
    lines: list[str] = []
    choices: list[Choice] = []
    for block in blocks:
        lines.extend(_block_lines(block, choices, first_number))
    return ConsoleText("\n".join(lines).rstrip(), choices)


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as plain text: mentions, links, bold, code and the few emoji the bot uses."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return target
        if target.startswith("#"):
            return "#" + (label or target[1:])
        return f"{label} ({target})" if label else target

    text = _LINK.sub(link, mrkdwn)
    text = _BOLD.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), text)
    text = "\n".join("│ " + line[1:].lstrip() if line.startswith(">") else line for line in text.split("\n"))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def styled_spans(mrkdwn: str) -> list[tuple[str, str]]:
    """Slack mrkdwn as (text, style) spans for a terminal: bold as "bold", code as "cyan", the rest plain (""),
    with links, emoji and entities as `plain` renders them."""
    spans: list[tuple[str, str]] = []
    marked = _BOLD.sub(lambda m: f"\x01{m.group(1)}\x02", _CODE.sub(lambda m: f"\x03{m.group(1)}\x04", mrkdwn))
    for piece in re.split(r"(\x01[^\x02]*\x02|\x03[^\x04]*\x04)", marked):
        if not piece:
            continue
        style = "bold" if piece[0] == "\x01" else "cyan" if piece[0] == "\x03" else ""
        spans.append((plain(piece.strip("\x01\x02\x03\x04")), style))
    return spans


def _text_of(text_object: dict[str, Any] | None) -> str:
    if not text_object:
        return ""
    text = str(text_object.get("text", ""))
    return plain(text) if text_object.get("type") == "mrkdwn" else text


def _block_lines(block: dict[str, Any], choices: list[Choice], first_number: int) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text_of(block.get("text"))
        return ["", title, "═" * min(len(title), len(RULE))]
    if kind == "divider":
        return [RULE]
    if kind == "context":
        texts = [_text_of(element) for element in block.get("elements", []) if "text" in element]
        return ["  " + line for line in " ".join(texts).split("\n")]
    if kind == "section":
        return _section_lines(block, choices, first_number)
    if kind == "actions":
        buttons = [_choice(element, choices, first_number) for element in block.get("elements", [])]
        return ["   ".join(buttons)]
    if kind == "rich_text":
        return [_rich_text(block)]
    if kind == "input":
        return _input_lines(block)
    return [f"[{kind} block: shown in Slack only]"]


def _input_lines(block: dict[str, Any]) -> list[str]:
    """A form's field: its label, what it holds (a select's choice and first options), its hint."""
    element = block.get("element") or {}
    label = _text_of(block.get("label")) + (" (optional)" if block.get("optional") else "")
    if element.get("type", "").endswith("select"):
        chosen = _text_of((element.get("initial_option") or {}).get("text")) or _text_of(element.get("placeholder"))
        lines = [f"{label}: ▾ {chosen}"]
        options = element.get("options") or []
        lines += [f"    · {_text_of(option.get('text'))}" for option in options[:5]]
        if len(options) > 5:
            lines.append(f"    · …{len(options) - 5} more")
    else:
        lines = [f"{label}: [{element.get('initial_value') or _text_of(element.get('placeholder'))}]"]
    hint = _text_of(block.get("hint"))
    return lines + ([f"    {hint}"] if hint else [])


def _section_lines(block: dict[str, Any], choices: list[Choice], first_number: int) -> list[str]:
    lines = _text_of(block.get("text")).split("\n") if block.get("text") else []
    fields = [_field(field) for field in block.get("fields") or []]
    for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
        lines.append(f"  {left:<{COLUMN}} {right}".rstrip())
    accessory = block.get("accessory")
    if accessory:
        lines.append("  " + _choice(accessory, choices, first_number))
    return lines


def _field(field: dict[str, Any]) -> str:
    label, _, value = _text_of(field).partition("\n")
    return f"{label}: {value.replace(chr(10), ' ')}" if value else label


def _choice(element: dict[str, Any], choices: list[Choice], first_number: int) -> str:
    if element.get("type") != "button":
        return f"[{element.get('type')}: in Slack only]"
    label = _text_of(element.get("text"))
    if element.get("url"):
        return f"{label}: {element['url']}"
    choice = Choice(
        first_number + len(choices), label, str(element.get("action_id", "")), str(element.get("value", ""))
    )
    choices.append(choice)
    return f"[{choice.number}] {label}"


def _rich_text(block: dict[str, Any]) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            for child in node.get("elements", []):
                walk(child)

    walk(block)
    return "".join(parts)
