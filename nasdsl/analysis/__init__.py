"""Analysis of a space without torch: shapes, parameters and FLOPs (`shapes`)."""
