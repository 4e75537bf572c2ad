"""Pure component functions shared by the console pages."""
