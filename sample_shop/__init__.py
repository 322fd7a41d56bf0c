"""The sample shop Kettle & Crane: FAQs, articles, tickets and orders for the demo and evals."""
