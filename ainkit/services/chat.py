"""Chat records: the schema every stage shares (LLaMA-Factory's multimodal ShareGPT shape).

    {"messages": [{"role": "user", "content": "<image>What is ...?"}, {"role": "assistant", "content": "..."}],
     "images": ["a.jpg"]}

The turns are under "messages" (text in "content") or "conversations" (text in "value"); each image
is marked in the text by PLACEHOLDER, one per entry of "images". Images are resized within
MIN_PIXELS..MAX_PIXELS (LLaMA-Factory's bounds) for training and evaluation alike.
"""
from __future__ import annotations

CHAT_KEYS = (("messages", "content"), ("conversations", "value"))  # (list of turns, text field of a turn)
PLACEHOLDER = "<image>"
MIN_PIXELS = 32 * 32
MAX_PIXELS = 768 * 768
