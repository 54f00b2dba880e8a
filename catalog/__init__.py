"""The catalog: regions, GPU types, images, storage profiles, prices, OpenStack mappings."""
