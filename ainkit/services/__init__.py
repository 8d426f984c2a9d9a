"""Services: what the stages share: endpoints and the OpenAI-compatible client, the embedded llama.cpp
and MT engines, records (StageIO), the answer cache, images, chat records, plots."""
