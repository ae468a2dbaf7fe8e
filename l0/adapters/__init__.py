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
from l0.adapters._conformance import check_adapter as check_adapter
from l0.adapters._errors import ProviderError as ProviderError
from l0.adapters._errors import StreamProtocolError as StreamProtocolError
from l0.adapters._httpx import HttpxSSEAdapter as HttpxSSEAdapter
from l0.adapters._httpx import SSEFactory as SSEFactory
from l0.adapters._httpx import SSERequest as SSERequest
from l0.adapters._httpx import openai_sse as openai_sse
from l0.adapters._litellm import LiteLLMAdapter as LiteLLMAdapter
from l0.adapters._openai import OpenAIAdapter as OpenAIAdapter
from l0.adapters._openai import convert_chunk as convert_chunk
from l0.adapters._openai import convert_sse_event as convert_sse_event
from l0.adapters._registry import detect as detect
from l0.adapters._registry import get as get
from l0.adapters._registry import register as register
from l0.adapters._registry import registered as registered
from l0.adapters._registry import unregister as unregister
from l0.adapters._sse import ServerSentEvent as ServerSentEvent
from l0.adapters._sse import SSEComment as SSEComment
from l0.adapters._sse import SSEParser as SSEParser

__all__ = [
    "Adapter",
    "Chunk",
    "Fault",
    "Finish",
    "HttpxSSEAdapter",
    "LiteLLMAdapter",
    "OpenAIAdapter",
    "ProviderError",
    "SSEComment",
    "SSEFactory",
    "SSEParser",
    "SSERequest",
    "ServerSentEvent",
    "StreamProtocolError",
    "ToolCallDelta",
    "Usage",
    "check_adapter",
    "convert_chunk",
    "convert_sse_event",
    "detect",
    "from_content_part",
    "from_openai_audio_delta",
    "from_openai_image",
    "get",
    "openai_sse",
    "register",
    "registered",
    "unregister",
]
