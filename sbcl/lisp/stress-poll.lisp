;;;; Stress (issue 21's): the main thread starts six threads that cons
;;;; tens of thousands of short strings and return; to each, at random, it
;;;; sends an interrupt whose function runs inside WITHOUT-INTERRUPTS, or
;;;; TERMINATE-THREAD, or nothing; every third round it collects garbage;
;;;; it conses itself; then it waits for all six by polling THREAD-ALIVE-P
;;;; with 1 ms sleeps. For SBCL_TEST_ARGS seconds (default 10); exits 104
;;;; when no thread had an error (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 10))

(defun worker ()
  (stress-lambda ("worker")
    (cons-strings (+ 10000 (random 20000)))))

(let* ((start (get-internal-real-time))
       (deadline (stress-deadline *seconds*))
       (counts (list (list :rounds 0 :threads 0 :gcs 0 :terminations 0 :accepted 0 :refused 0))))
  (with-stress-errors ("main thread")
    (loop for round from 0
          while (stress-time-left-p deadline)
          do (let ((threads (loop repeat 6 collect (sb-thread:make-thread (worker) :name "worker"))))
               (incf (getf (car counts) :threads) 6)
               (dolist (th threads)
                 (case (random 3)
                   (0 (try-interrupt th (lambda () (sb-sys:without-interrupts (cons-strings 20))) counts))
                   (1 (when (try-interrupt th #'sb-ext:quit counts)
                        (incf (getf (car counts) :terminations))))))
               (when (zerop (mod round 3))
                 (sb-ext:gc)
                 (incf (getf (car counts) :gcs)))
               (cons-strings 5000)
               (mapc #'wait-polling threads)
               (incf (getf (car counts) :rounds)))))
  (stress-finish "poll" start (car counts)))
