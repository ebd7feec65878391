"""`musechat-builder synth`: the conversational dataset of the MuseChat paper (§3), written
in the layout of `musechat_tui.dataset` (the contract with the trainer).

One concern per module:
- corpus: the input (a folder of music videos, or a JSONL/CSV of (video, music) pairs) and
  the fixed-seed train/test split;
- facts: a track's metadata and tags as the prompt and the validator see them;
- features: decoding (worker processes) and encoding (main process) of one item, and the
  safetensors shard writer;
- state: the work folder's journals that make a killed run resumable;
- scorer: the base video-to-music scorer that ranks the candidate pool;
- candidates: the random pools and the pick at a rank window;
- offline, prompt, openai_gen: the two conversation generators (offline phrasing; the
  paper's Figure 6 prompt through any OpenAI-compatible endpoint, with a cache);
- validate: the paper's rules, checked on every conversation;
- visualiser: synthetic, audio-driven music videos made from a real music library;
- stats: dataset statistics; pipeline: the orchestration.
"""
