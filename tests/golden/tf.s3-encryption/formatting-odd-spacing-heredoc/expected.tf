/* buckets */
resource   "aws_s3_bucket"   "data"   {
    bucket    = "my-data"   // odd spacing
    policy = <<POLICY
{"Version": "2012-10-17"}
POLICY
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}
# after