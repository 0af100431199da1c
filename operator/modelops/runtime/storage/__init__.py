"""Model artifact stores for `modelops fetch-model`: one module per scheme, one failure hierarchy (`errors`)."""
