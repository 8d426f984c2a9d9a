"""ainkit: reproduce the AIN report, and build your own Arabic multimodal model.

    ainkit --help
"""
__version__ = "0.1.0"
