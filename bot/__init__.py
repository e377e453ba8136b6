"""gatebot core: rules, classifier, service, store. No chat-platform imports here."""

__version__ = "0.1.0"
