# data bucket
resource "aws_s3_bucket" "data" {
  bucket = "my-data" # keep name
  lifecycle_rule {
    id                                     = "abort-incomplete-multipart-uploads"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 7
  }
}
