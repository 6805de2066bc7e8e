;;;; Helpers the fixture's Lisp files share: (load (merge-pathnames
;;;; "common.lisp" *load-truename*)) first.

(in-package "CL-USER")

(defun test-arg (default)
  "The integer in SBCL_TEST_ARGS (set by sbcl/run_lisp.py), or DEFAULT."
  (let ((arg (sb-ext:posix-getenv "SBCL_TEST_ARGS")))
    (or (and arg (plusp (length arg)) (parse-integer arg :junk-allowed t)) default)))

(defun wait-until-dead (thread)
  (loop while (sb-thread:thread-alive-p thread)
        do (sleep 0.0002)))

(defun map-count ()
  "Lines of /proc/self/maps: the process's map entries."
  (with-open-file (s "/proc/self/maps")
    (loop for line = (read-line s nil) while line count t)))
