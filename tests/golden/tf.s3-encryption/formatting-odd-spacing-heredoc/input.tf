/* buckets */
resource   "aws_s3_bucket"   "data"   {
    bucket    = "my-data"   // odd spacing
    policy = <<POLICY
{"Version": "2012-10-17"}
POLICY
}
# after