"""POST /uploads: presigned S3 POST for large images."""
