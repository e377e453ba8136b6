"""A rule file read with the line of every value, and its problems reported by file, line and field
(``rules/cues/1-procurement.yaml:41: cues[3].weight: Input should be greater than 0``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

NonEmpty = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """A rule file's part: unknown keys are mistakes, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(Strict):
    en: NonEmpty
    zh: NonEmpty

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class RuleProblem:
    file: str
    line: int
    where: str  # rule / field path, e.g. "cues[3].weight"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.where}: {self.message}" if self.where else (
            f"{self.file}:{self.line}: {self.message}"
        )


class RulesError(Exception):
    """The rule files are invalid; ``problems`` lists each one with its file and line."""

    def __init__(self, problems: list[RuleProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_yaml(path: Path, shown: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML keeping the line of every node, keyed by its path (("cues", 3, "weight"))."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([RuleProblem(shown, 0, "", f"cannot read: {exc}")]) from None
    lines: dict[tuple, int] = {}
    try:
        # libyaml's parser when present: it keeps node marks and loads the rules several times faster.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            root = loader.get_single_node()

            def build(node: yaml.Node, where: tuple) -> Any:
                lines[where] = node.start_mark.line + 1
                if isinstance(node, yaml.MappingNode):
                    out = {}
                    for key_node, value_node in node.value:
                        key = loader.construct_object(key_node, deep=True)
                        out[key] = build(value_node, (*where, key))
                        lines[(*where, key)] = key_node.start_mark.line + 1
                    return out
                if isinstance(node, yaml.SequenceNode):
                    return [build(item, (*where, i)) for i, item in enumerate(node.value)]
                return loader.construct_object(node, deep=True)

            data = build(root, ()) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError([RuleProblem(shown, line, "", f"YAML syntax: {problem}")]) from None
    return data, lines


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validate(model: type[BaseModel], path: Path, shown: str) -> tuple[Any, dict[tuple, int]]:
    data, lines = read_yaml(path, shown)
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {"function-before"}))
            line = 1
            for cut in range(len(loc), -1, -1):
                if loc[:cut] in lines:
                    line = lines[loc[:cut]]
                    break
            problems.append(RuleProblem(shown, line, _where(loc), err["msg"]))
        raise RulesError(problems) from None
