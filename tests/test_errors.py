from tokbench.errors import close_matches, unknown


def test_close_matches_prefers_substring_and_similarity():
    names = ["qwen3-30b-a3b", "qwen3-next-80b-a3b", "llama-3.1-8b"]
    assert close_matches("qwen3-30b", names)[0] == "qwen3-30b-a3b"
    assert close_matches("lama-3.1-8b", names) == ["llama-3.1-8b"]


def test_unknown_message_is_one_line_with_hints():
    msg = str(unknown("model", "qwen3-30b", ["qwen3-30b-a3b", "gemma-3-27b"]))
    assert "\n" not in msg and "did you mean: qwen3-30b-a3b" in msg
