"""An entry whose module fails to import: `invarlock plugins` lists it with this error."""

raise ImportError("invarlock_scale_all.broken needs a library that is not installed")
