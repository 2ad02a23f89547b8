"""Benchmark app: one float32 model of ``dim`` values, trained trivially, aggregated by
our SecAggGrid + secagg_mod or by Flower's SecAggPlusWorkflow + secaggplus_mod."""
