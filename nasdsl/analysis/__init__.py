"""Analysis of a space without torch: shapes, parameters and FLOPs (`shapes`), their bounds
over the space (`bounds`), lint warnings (`lint`) and the most probable valid architecture
under per-decision scores (`best`)."""
