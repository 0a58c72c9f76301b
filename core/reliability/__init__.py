"""Reliability checks: is the input a frontal chest X-ray like the training films, and is the model sure?"""
