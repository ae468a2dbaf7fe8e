"""Adapters turn what a stream factory returns into l0 chunks.

Built in: ``"async-iterator"`` (async iterables of ``str``, l0 stream events or event dicts) and
``"iterable"`` (the same, from a plain iterable). Provider adapters register themselves here.
"""

from l0._multimodal import from_content_part as from_content_part
from l0._multimodal import from_openai_audio_delta as from_openai_audio_delta
from l0._multimodal import from_openai_image as from_openai_image
from l0.adapters._base import Adapter as Adapter
from l0.adapters._base import Chunk as Chunk
from l0.adapters._base import Fault as Fault
from l0.adapters._base import Finish as Finish
from l0.adapters._base import ToolCallDelta as ToolCallDelta
from l0.adapters._base import Usage as Usage
from l0.adapters._registry import detect as detect
from l0.adapters._registry import get as get
from l0.adapters._registry import register as register
from l0.adapters._registry import registered as registered
from l0.adapters._registry import unregister as unregister

__all__ = [
    "Adapter",
    "Chunk",
    "Fault",
    "Finish",
    "ToolCallDelta",
    "Usage",
    "detect",
    "from_content_part",
    "from_openai_audio_delta",
    "from_openai_image",
    "get",
    "register",
    "registered",
    "unregister",
]
