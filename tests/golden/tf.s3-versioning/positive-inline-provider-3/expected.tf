# data bucket
resource "aws_s3_bucket" "data" {
  bucket = "my-data" # keep name
  versioning {
    enabled = true
  }
}
