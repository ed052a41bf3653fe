"""Parse each state machine definition once: moto's ASL parser runs again for every execution, and it is slow.

moto 5.2.5's interpreter (ported from LocalStack) parses the definition text with an ANTLR grammar in pure
Python at ``CreateStateMachine`` (validation) and again at every ``StartExecution`` (the execution's
program). gtpipe's pipeline definition costs about a second of CPU per parse on two loaded cores, paid by
every run of the local cloud and by every execution of the interpreter tests, under the GIL of the process
that also serves the local cloud.

The parse tree is a pure function of the definition text, so it is remembered per text. Nothing mutates
it (the preprocessor and moto's static analysers only visit it); the program is built from it anew on
every call, so each execution gets its own state objects, made by whichever task factory is installed at
that moment (:mod:`local.sfn.moto_patches`, patch point 1). A definition that does not parse is not
remembered and raises moto's ``ASLParserException`` every time, as before.

Answers, errors and execution behaviour are unchanged; only the repeated parsing is gone. Installed and
removed with the other patches (:func:`local.sfn.install` / :func:`local.sfn.uninstall`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Final

from antlr4 import ParserRuleContext
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

from local.moto_compat import raise_if_changed

CACHED_DEFINITIONS: Final = 16
"""Definitions remembered (least recently used dropped first): a local cloud deploys one or two state
machines; the interpreter tests create a few dozen small ones."""

_ORIGINALS: dict[str, Any] = {}
_LOCK = threading.Lock()
_TREES: OrderedDict[str, ParserRuleContext] = OrderedDict()


def _remembered(definition: str) -> ParserRuleContext | None:
    with _LOCK:
        tree = _TREES.get(definition)
        if tree is not None:
            _TREES.move_to_end(definition)
        return tree


def _remember(definition: str, tree: ParserRuleContext) -> None:
    with _LOCK:
        _TREES[definition] = tree
        _TREES.move_to_end(definition)
        while len(_TREES) > CACHED_DEFINITIONS:
            _TREES.popitem(last=False)


def cached_parse(definition: str) -> tuple[EvalComponent, ParserRuleContext]:
    """``AmazonStateLanguageParser.parse``: the program built anew from the remembered parse tree."""
    tree = _remembered(definition)
    if tree is None:
        program, tree = _ORIGINALS["parse"](definition)
        _remember(definition, tree)
        return program, tree
    return Preprocessor().visit(tree), tree


def check_parse_cache_patch_points() -> None:
    """Raise :class:`~local.moto_compat.MotoInternalsChanged` if the parsing entry points moved."""
    problems = [
        f"{owner.__name__}.{name} is missing"
        for owner, name in ((AmazonStateLanguageParser, "parse"), (Preprocessor, "visit"))
        if not callable(getattr(owner, name, None))
    ]
    raise_if_changed("local.sfn.parse_cache", problems)


def install_parse_cache() -> None:
    """Route moto's parser through the cache. Idempotent."""
    if _ORIGINALS:
        return
    check_parse_cache_patch_points()
    _ORIGINALS["parse"] = AmazonStateLanguageParser.parse
    # A static method, looked up on the class at every call site (models.py, execution_worker.py).
    AmazonStateLanguageParser.parse = staticmethod(cached_parse)  # type: ignore[method-assign]


def uninstall_parse_cache() -> None:
    """Restore moto's originals and forget every cached definition (a no-op when not installed)."""
    if not _ORIGINALS:
        return
    AmazonStateLanguageParser.parse = staticmethod(_ORIGINALS.pop("parse"))  # type: ignore[method-assign]
    with _LOCK:
        _TREES.clear()
