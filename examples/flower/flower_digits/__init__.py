"""Federated logistic regression on scikit-learn's digits, aggregated with secagg_flower."""
