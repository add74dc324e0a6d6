"""Drawing the slot state machine from its one table, so the picture in docs/ cannot drift."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Literal

from transitions.extensions.diagrams import GraphMachine

from cabinetd.fsm.slot import TRANSITIONS
from cabinetproto.enums import SlotState


def _machine(engine: Literal["graphviz", "mermaid"]) -> GraphMachine:
    return GraphMachine(
        states=SlotState,
        transitions=TRANSITIONS,
        initial=SlotState.EMPTY,
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=True,
        title="slot",
    )


def mermaid() -> str:
    source: str = _machine("mermaid").get_graph().draw(None)
    return source


def png(path: Path) -> None:
    """Needs graphviz (the `graphviz` Python package and its `dot` program)."""
    if shutil.which("dot") is None:
        raise RuntimeError("drawing a PNG needs graphviz's `dot` program; it is not installed")
    if importlib.util.find_spec("graphviz") is None:
        raise RuntimeError("drawing a PNG needs the graphviz Python package; it is not installed")
    _machine("graphviz").get_graph().draw(str(path), format="png", prog="dot")
