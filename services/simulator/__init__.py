"""The scenario simulator: a seeded election-2007 scenario, published at compressed time."""
