"""Analytic results (queueing theory) to compare simulated figures against."""
