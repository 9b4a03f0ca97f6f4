"""Static files shipped inside the package (fonts)."""
