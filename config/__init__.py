"""Configuration of guestwork: settings from the environment, departments and policy data."""
