"""A causal checkpoint's weights in blocks its config.json does not build (adapters/hf_matrix_names.extra_blocks):
found from the names alone, as the load refuses them; other names the module lacks are left to the load."""

from invarlock.adapters.hf_matrix_names import extra_blocks

MODULE = {f"model.layers.{n}.mlp.down_proj.weight": (2, 2) for n in range(2)} | {"model.embed_tokens.weight": (4, 2)}


def test_a_block_beyond_the_configs_layers_is_named():
    in_file = {**MODULE, "model.layers.2.mlp.down_proj.weight": (2, 2), "model.layers.10.mlp.down_proj.weight": 0}
    assert extra_blocks(in_file, MODULE) == [
        "model.layers.10.mlp.down_proj.weight",
        "model.layers.2.mlp.down_proj.weight",
    ]


def test_buffers_prefixes_and_other_names_are_left_to_the_load():
    in_file = {
        **MODULE,
        "model.layers.0.self_attn.rotary_emb.inv_freq": (1,),  # a buffer an old checkpoint holds
        "layers.0.mlp.down_proj.weight": (2, 2),  # a base model's names, without the prefix
        "lm_head.weight": (4, 2),
    }
    assert extra_blocks(in_file, MODULE) == []
